"""``dirt.core.log.log``: the shared log object the 2012 code wrote through.

It writes through dirt's own log (the ``dirt`` logger), so its lines land
where ``dirt serve`` sends everything else: the project's ``log_file`` and the
console, as ``Sep 07 12:57:20 host project : message``.
"""
from dirt.core.yelling import Log

log = Log(None, service_name="dirt")
