"""Everything that speaks to Bitrix24: REST, OAuth, payload parsing. No Flask here."""
