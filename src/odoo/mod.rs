//! Odoo client.
