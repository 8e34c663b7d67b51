"""Geometry shared by the simulator, the robot plane and the world plane.

Why a package of its own: the simulator is a stand-in robot, yet its grid world, costmap
planner, map pictures and pose math were what the robot and world servers planned, checked and
drew with — so they imported the simulator. Here they live once, in small modules named for
what they hold; the simulator keeps only what a robot is (physics, sensors, rosbridge) and
imports this package, and nothing here imports the rest of Auraison.

* ``grid`` — the occupancy grid ``World`` and its cell values;
* ``worldfile`` — world YAML files (built-ins in ``worlds/``), parsing with line-numbered errors;
* ``yamllines`` — where a YAML node lies (numpy-free: policy files use it too);
* ``planner`` — the inflated costmap and shortest paths over it;
* ``raycast`` — rays over the grid: distances and a first-person picture;
* ``render`` — the map, its places and a path as PNG;
* ``pose`` — yaw ↔ quaternion, angle wrapping, headings.

Nothing is imported here, so importing one module never pulls in numpy for another.
"""
