"""``manage.py workflows …``: wrangler's workflows commands (see workflows_app/cli)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from workflows_app.cli import parser as cli_parser
from workflows_app.cli.output import Output


class Command(BaseCommand):
    help = "Manage workflows, instances, accounts and API tokens (mirrors `wrangler workflows`)."

    def add_arguments(self, parser: CommandParser) -> None:
        cli_parser.build(parser, CommandParser)

    def handle(self, *args: Any, **options: Any) -> None:
        out = Output(self.stdout, as_json=options.get("json", False))
        options["handler"](out, options)
