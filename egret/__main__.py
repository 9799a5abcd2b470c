"""``python -m egret``: the same as the ``egret`` command."""
from egret.cli import main

main(prog_name="egret")
