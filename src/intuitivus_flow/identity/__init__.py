"""Who acts and what they may do: the identity leaf any domain may import (kit and config only)."""
