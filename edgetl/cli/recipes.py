"""`edgetl recipes`: the recipes bundled with edgetl (models/ in a checkout, inside the package in a wheel)."""
from __future__ import annotations

import click

from edgetl.cli.common import console, emit_json, out, user_errors


@click.command("recipes")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON on stdout.")
@user_errors
def recipes_cmd(as_json):
    """List the bundled recipes that `edgetl run NAME` takes.

    \b
    Examples:
      edgetl recipes
      edgetl run flowers_mobilenet_v2 --data photos/
    """
    from edgetl.pipeline.recipes import list_recipes
    from edgetl.report.tables import show_table

    rows = list_recipes()
    if as_json:
        emit_json(rows)
        return
    show_table(out, "edgetl recipes", [("name", "recipe"), ("backbone", "backbone"), ("data", "data"),
                                       ("description", "what it makes")], rows, drop=("data",))
    console.print("run one with: edgetl run NAME [--data DIR] (any recipe key as an --option)")
