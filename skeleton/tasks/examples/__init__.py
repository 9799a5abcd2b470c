"""Example tasks: simple, kwargs, attachments and compile_hello."""
