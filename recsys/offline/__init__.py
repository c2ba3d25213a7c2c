"""The simulator put to work on the real system: simulated seekers served by the real pipeline
(the closed loop) and a market folder served for the CLI and the demo. Above everything that
serves; nothing that serves imports it."""
