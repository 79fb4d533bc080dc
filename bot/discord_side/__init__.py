"""The Discord side: the gateway client, the REST adapter and the command tree."""
