"""Model card exports: the CHAI Applied Model Card (XML) and the ONC HTI-1 source-attribute
document, filled from the registry's model facts and the tool's local evaluation and monitoring."""
