"""The ``modelwatch`` command line: the entry point above ``flows``, ``tasks`` and the library.

* :mod:`cli.main`     – the argument parser and ``main`` (console script ``modelwatch``)
* :mod:`cli.commands` – one function per command

It lives outside the library because its commands start flows: ``modelwatch``
(the library) never imports ``flows``, ``tasks`` or ``cli``.
"""
