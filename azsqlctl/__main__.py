"""``python -m azsqlctl`` and the ``azsqlctl`` console script (``azsqlctl.__main__:main``).

Ctrl-C or SIGTERM before the command's own handling is in place (while Typer, rich and the SDKs
import: the first ~0.3 s) ends the process quietly with 130 or 143, as a shell reports it: no
KeyboardInterrupt traceback. Nothing has been done yet but temp files being written, which go too.
The package's ``__init__`` already installed the handlers when run as a program; this is the same
call for any other way of reaching ``main``.
"""

from azsqlctl import exit_quietly_on_signals

exit_quietly_on_signals()


def main() -> None:
    from azsqlctl.cli.app import main as run_cli

    run_cli()


if __name__ == "__main__":
    main()
