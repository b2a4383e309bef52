"""Everything on screen: the Qt application built on connectors/."""
