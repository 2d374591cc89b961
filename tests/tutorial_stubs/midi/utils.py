"""``midi.utils`` as rnnrbm.py imports it: the names exist, reading or writing MIDI fails."""


def _unavailable(name):
    raise RuntimeError(f"midi.{name} is dae's test stand-in, not the midi package: rnnrbm.py "
                       "needs the real one (and the Nottingham corpus) to read or write MIDI")


def midiread(*args, **kwargs):
    _unavailable("utils.midiread")


def midiwrite(*args, **kwargs):
    _unavailable("utils.midiwrite")
