"""`python -m service` runs the `lnob` command (what the demo uses to start its processes)."""

from service.cli import main

main()
