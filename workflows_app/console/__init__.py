"""The htmx operations console, whole: URLs, access, views, and what its pages show.

* ``urls``        the console's routes (included by ``project.urls``)
* ``access``      roles → capabilities; the ``access_*`` helpers every view goes through
* ``context``     the context processor every page gets (account switcher, approvals badge)
* ``filters``     the instances list's filters ⇄ its query string
* ``inputs``      every request's input gets the REST API's checks (a 400 page, never a 500)
* ``signin``      the sign-in form and view, with throttled failures
* ``present``     instances in words: activity, journal pages, CPU and its cost
* ``usage_page``  the Usage & billing page: gauges, alerts, charts, statement rows, CSV
* ``formatting``  Decimal quantities, money, bytes and percents as text
* ``views``       thin function-based views over services and selectors

Reads go through ``workflows_app.selectors`` and writes through
``workflows_app.services``: nothing here queries the database itself.
"""
