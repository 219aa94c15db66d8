"""A test-only distribution whose nova.hooks entry points record events."""

import setuptools

setuptools.setup(
    name='novahooks-test-recorder',
    version='1.0',
    py_modules=['novahooks_recorder'],
    entry_points={'nova.hooks': [
        'create_instance = novahooks_recorder:RecordCreate',
        'build_instance = novahooks_recorder:RecordBuild',
        'delete_instance = novahooks_recorder:RecordDelete',
        'instance_network_info = novahooks_recorder:RecordNetworkInfo',
    ], 'novahooks.plugins': [
        'recorder = novahooks_recorder:RecorderPlugin',
    ], 'novahooks.hooks': [
        # Broken on purpose, behind novahooks' dispatcher (plugin
        # "broken"): a class whose constructor raises, and an entry point
        # whose module does not exist.
        'broken.instance_network_info = novahooks_recorder:BrokenInit',
        'broken.build_instance = novahooks_recorder_missing:Nothing',
    ]},
)
