"""The reference central CRM endpoint: the server side of appliance.v1.CdrSync, for demos, tests and integrators."""
