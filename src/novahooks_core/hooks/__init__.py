"""The ``nova.hooks`` adapter (Nova <= 21): :mod:`.binding` (a call's
arguments by hook point and release), :mod:`.event` (``HookEvent``),
:mod:`.base` (the ``NovaHook`` base class), :mod:`.dispatch` (the
``nova.hooks`` entry points), :mod:`.registry` (the plugins' handler
classes) and :mod:`.seen` (unchanged calls recognised in memory).

Import the modules themselves: this package imports nothing, so reading
one of them never loads the others.
"""
