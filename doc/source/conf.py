"""Sphinx configuration of novahooks' documentation (built with -W by
tools/run-tests.sh)."""

project = 'novahooks'
copyright = 'novahooks contributors'
extensions = [
    'oslo_config.sphinxext',
    'cliff.sphinxext',
]
exclude_patterns = ['_build']
html_theme = 'alabaster'
# cliff.sphinxext: the commands of the novahooks.cli namespace.
autoprogram_cliff_application = 'novahooks'
