"""blinkenlib: Morse code on an LED. A board-side library: it lives in the board's /lib.

MicroPython only (time.sleep_ms); `belay-hook sync` or main.py puts it on the board.
"""

import time

CODE = {
    "A": ".-", "B": "-...", "C": "-.-.", "D": "-..", "E": ".", "F": "..-.", "G": "--.",
    "H": "....", "I": "..", "J": ".---", "K": "-.-", "L": ".-..", "M": "--", "N": "-.",
    "O": "---", "P": ".--.", "Q": "--.-", "R": ".-.", "S": "...", "T": "-", "U": "..-",
    "V": "...-", "W": ".--", "X": "-..-", "Y": "-.--", "Z": "--..", "0": "-----",
    "1": ".----", "2": "..---", "3": "...--", "4": "....-", "5": ".....", "6": "-....",
    "7": "--...", "8": "---..", "9": "----.",
}  # fmt: skip


def pattern(text):
    """The Morse code of `text`, letters apart by a space; other characters are left out."""
    return " ".join(CODE[c] for c in text.upper() if c in CODE)


def play(pin, text, unit_ms=60):
    """Flash `text` on `pin` (dot: 1 unit, dash: 3, gaps: 1 and 3); returns the flashes."""
    flashes = 0
    for symbol in pattern(text):
        if symbol == " ":
            time.sleep_ms(2 * unit_ms)  # after the symbol's own 1-unit gap: 3 between letters
            continue
        pin.value(1)
        time.sleep_ms(unit_ms if symbol == "." else 3 * unit_ms)
        pin.value(0)
        time.sleep_ms(unit_ms)
        flashes += 1
    return flashes
