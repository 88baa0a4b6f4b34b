"""SCIM 2.0 provisioning (RFC 7643, RFC 7644; issue 19): the resources a company's HR system
sees, described with scim2-models, and the rules that turn its writes into the console's own
service calls (``idp.scim.provisioning``)."""
