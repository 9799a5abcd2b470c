"""``dirt.core.log.log``: the shared log object the 2012 code wrote through.

It writes to the console in dirt's log format; ``dirt serve`` and the other
commands configure the project's log file (see :mod:`dirt.logs`).
"""
from dirt.core.yelling import Log

log = Log(None, service_name="dirt")
