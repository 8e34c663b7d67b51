"""A headless TurtleBot3 (burger) in a maze, behind a rosbridge v2 server.

Stands in for ROS 2 Jazzy + Nav2 + Gazebo: unmodified rosbridge clients (ros-mcp, roslibpy)
drive it. This package imports nothing from the rest of Auraison.
"""

from .engine import SimConfig, Simulation
from .world import BUILTIN, World, WorldError, load_world

__all__ = ["BUILTIN", "SimConfig", "Simulation", "World", "WorldError", "load_world"]
