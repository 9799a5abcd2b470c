"""Task modules of this project. A task document's "name" is a dotted path in here."""
