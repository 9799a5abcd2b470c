"""The 2012 module API, kept importable: create, dbi, server, load_balance, log, yelling.

These are thin doors onto dirt's modules, so scripts written for the
original (``from dirt.core import dbi``) keep working.
"""
