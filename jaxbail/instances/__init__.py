"""Built-in instance families: generators reachable by name from Python and the CLI."""

from jaxbail.instances.actor_slip import actor_slip
from jaxbail.instances.coordination import coordination
from jaxbail.instances.hard import hard
from jaxbail.instances.random import random_instance
from jaxbail.instances.registry import INSTANCES, Family, instance_by_name, list_valued, parameters, parse_params
from jaxbail.instances.safe_arm import safe_arm

__all__ = ["actor_slip", "coordination", "hard", "random_instance", "safe_arm", "Family", "INSTANCES",
           "instance_by_name", "list_valued", "parameters", "parse_params"]
