"""How the CLIs stop: a Ctrl-C or SIGTERM is never lost where exceptions cannot propagate."""

import signal
import time

import pytest

from sweep import errors


class _Dies:
    """Raises ``exc`` from ``__del__``, as a signal handler's exception does when it lands
    inside a garbage-collector callback (distributed's GC diagnosis) or a finalizer."""

    def __init__(self, exc):
        self.exc = exc

    def __del__(self):
        raise self.exc


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), errors.Terminated()], ids=["ctrl-c", "sigterm"])
def test_a_stop_swallowed_by_a_finalizer_is_delivered_again(exc, capsys):
    """Python would print "Exception ignored ... KeyboardInterrupt" and go on: the user's
    Ctrl-C lost, a traceback on the screen. Inside the CLIs' context it lands again, in the
    main thread's own code, as the same kind of stop."""
    with pytest.raises(KeyboardInterrupt) as caught:
        with errors.sigterm_raises():
            _Dies(exc)  # dropped at once: __del__ raises into the unraisable hook
            time.sleep(2)  # the stop lands here, well before the end
    assert isinstance(caught.value, errors.Terminated) == isinstance(exc, errors.Terminated)
    assert "Exception ignored" not in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # and the defaults are back
