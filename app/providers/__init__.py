"""Model providers: one interface (base.Provider), adapters by kind in a registry."""
