"""Pure logic: no printing, no exiting, no typer/rich, no SDK imports."""
