"""The robot plane server: robot-level tools over rosbridge v2 (the built-in sim or a real robot)."""
