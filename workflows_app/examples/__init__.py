"""Example workflows shipped with the product and used by the demo seed."""
