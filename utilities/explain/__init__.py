"""Assignment 3b's visual explanations: one file per method over the base classes in base.py,
the registry, the folder runner and figures; metrics/ scores maps, synthesis/ makes images."""
