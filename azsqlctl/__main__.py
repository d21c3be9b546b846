from azsqlctl.cli.app import main

main()
