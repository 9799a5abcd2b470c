"""A task that returns files: each becomes an attachment of the task document.

Attachments with a "link_name" get a link on the record page.
"""
import platform


def execute():
    """Write a small report and attach it, with a link."""
    report = 'ran on %s (%s)\n' % (platform.node(), platform.platform())
    return {
        'success': True,
        'attachments': [
            {'filename': 'report.txt', 'contents': report, 'link_name': 'Report'},
            {'filename': 'data.csv', 'contents': 'x,y\n1,2\n3,4\n'},
        ],
    }


if __name__ == '__channelexec__':
    channel.send(execute())  # noqa: F821 (provided by execnet)

if __name__ == '__main__':
    print(execute())
