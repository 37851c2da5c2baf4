"""python -m edgetl: the same command line as `edgetl`."""
from edgetl.cli import main

main(prog_name="edgetl")
