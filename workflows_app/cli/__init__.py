"""``manage.py workflows …``: wrangler's ``workflows`` commands, over services and selectors.

The management command (management/commands/workflows.py) only builds the
parser (parser.py) and dispatches to the handlers in workflows_cmds.py,
instances_cmds.py and admin_cmds.py. ``--json`` prints what the REST API
returns as ``result``.
"""
