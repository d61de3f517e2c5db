"""Imported by the warm-start fork server (:mod:`flows.warm`): every flow module and the
libraries their runs import lazily. Only imports: no connection, thread or setting."""

from flows.warm import warm_imports

MISSING = warm_imports()
