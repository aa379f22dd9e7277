"""Built-in texts every new model version is checked on before it is swapped in."""

from __future__ import annotations

CHECK_TEXTS: tuple[str, ...] = (
    "I remember the summer my grandfather taught me to fish. We woke up before dawn, and he "
    "never said much, but he showed me how to tie the knots twice until I got them right.",
    "In conclusion, technology offers numerous benefits for students. Firstly, it enhances "
    "access to information. Secondly, it fosters collaboration. Ultimately, embracing these "
    "tools can lead to a more engaging and effective learning experience for all learners.",
    "Driverless cars are coming whether we like it or not, and honestly i think people are "
    "not ready for them yet because who gets blamed when one crashes??",
    "Ok",
    "Ünïcödé tëxt — with dashes, emoji 🙂 and numbers 12345.",
)
