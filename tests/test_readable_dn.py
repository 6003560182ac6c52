"""A certificate's distinguished name as pages show it: short names for the surname and given
name (cryptography writes them as bare OIDs), a space after each comma so that it wraps."""
from __future__ import annotations

from formatting import readable_dn


def test_oids_become_short_names_and_commas_take_a_space():
    assert readable_dn("CN=Camille MARTIN,2.5.4.4=Martin,2.5.4.42=Camille,O=BPOI,C=FR") == \
        "CN=Camille MARTIN, SN=Martin, GN=Camille, O=BPOI, C=FR"


def test_a_name_already_written_with_short_names_reads_the_same_way():
    assert readable_dn("CN=Julien ROUX,SN=Roux,GN=Julien,serialNumber=42,O=BPOI,C=FR") == \
        "CN=Julien ROUX, SN=Roux, GN=Julien, serialNumber=42, O=BPOI, C=FR"


def test_an_escaped_comma_stays_inside_its_value():
    assert readable_dn(r"CN=Dupont\, Marie,O=ACME") == r"CN=Dupont\, Marie, O=ACME"


def test_what_is_no_distinguished_name_is_shown_as_it_is():
    assert readable_dn("Autorité importée") == "Autorité importée"
    assert readable_dn(None) == ""
