"""``python -m mbdl_teach.recipes``: the recipes' command line."""
from . import main

main()
