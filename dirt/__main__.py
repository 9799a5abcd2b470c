"""``python -m dirt`` runs the dirt command."""
from .cli import main

main()
