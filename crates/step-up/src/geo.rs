//! Where an address is: its country, offline. Out of the box from the `iptocc` crate, which embeds
//! the regional internet registries' delegation statistics (NRO data, CC BY 4.0); or from a
//! MaxMind-format database (`step_up.geoip_mmdb`): GeoLite2/GeoIP2 Country, or the ip-location-db
//! country files (`country_code` records). Country is a soft signal: sources disagree at the edges.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::OnceLock;

pub enum Geo {
    /// The registries' data compiled into the binary.
    Embedded,
    /// A MaxMind DB file read at start-up.
    Mmdb(maxminddb::Reader<Vec<u8>>),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GeoError(String);

impl Geo {
    /// Opens a MaxMind DB file (read whole into memory).
    pub fn open(path: &std::path::Path) -> Result<Self, GeoError> {
        let reader =
            maxminddb::Reader::open_readfile(path).map_err(|e| GeoError(format!("{}: {e}", path.display())))?;
        Ok(Geo::Mmdb(reader))
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Geo::Embedded => "the embedded registry data (iptocc)",
            Geo::Mmdb(_) => "a MaxMind DB file",
        }
    }

    /// The ISO 3166-1 alpha-2 country of `ip` (canonical, as `domain::ClientIp` gives it), if known.
    pub fn country(&self, ip: IpAddr) -> Option<String> {
        let code = match self {
            Geo::Embedded => iptocc::country_code(ip).map(str::to_owned),
            Geo::Mmdb(reader) => mmdb_country(reader, ip),
        }?;
        let code = code.to_ascii_uppercase();
        (code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()) && code != "ZZ").then_some(code)
    }
}

/// Both layouts: GeoIP2 (`country.iso_code`) and ip-location-db (`country_code`).
fn mmdb_country(reader: &maxminddb::Reader<Vec<u8>>, ip: IpAddr) -> Option<String> {
    let found = reader.lookup(ip).ok()?;
    if let Ok(Some(code)) = found.decode_path::<String>(&maxminddb::path!["country_code"]) {
        return Some(code);
    }
    found.decode_path::<String>(&maxminddb::path!["country", "iso_code"]).ok().flatten()
}

/// The network an address (canonical) belongs to for the "new network" signal: its /24 (IPv4) or
/// /48 (IPv6).
pub fn network(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

/// The centre of a country's largest landmass (Natural Earth, public domain).
pub fn centroid(country: &str) -> Option<(f64, f64)> {
    static TABLE: OnceLock<HashMap<&'static str, (f64, f64)>> = OnceLock::new();
    TABLE
        .get_or_init(|| {
            include_str!("../data/country_centroids.csv")
                .lines()
                .filter(|l| !l.starts_with('#') && !l.starts_with("iso2"))
                .filter_map(|l| {
                    let mut parts = l.split(',');
                    let code = parts.next()?;
                    let lat = parts.next()?.parse().ok()?;
                    let lon = parts.next()?.parse().ok()?;
                    Some((code, (lat, lon)))
                })
                .collect()
        })
        .get(country)
        .copied()
}

/// Great-circle distance in kilometres (haversine, mean Earth radius 6371 km).
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_registry_data_places_well_known_addresses() {
        let geo = Geo::Embedded;
        for (ip, cc) in [("8.8.8.8", "US"), ("193.0.6.139", "NL"), ("1.0.16.1", "JP"), ("2001:4860:4860::8888", "US")] {
            assert_eq!(geo.country(ip.parse().unwrap()).as_deref(), Some(cc), "{ip}");
        }
        let mapped = domain::ClientIp::new("::ffff:193.0.6.139".parse().unwrap()).ip();
        assert_eq!(geo.country(mapped).as_deref(), Some("NL"), "mapped IPv4, as the client IP gives it");
        assert_eq!(geo.country("10.1.2.3".parse().unwrap()), None, "private addresses have no country");
    }

    #[test]
    fn networks_are_the_slash_24_or_slash_48() {
        assert_eq!(network("203.0.113.77".parse().unwrap()), "203.0.113.0/24");
        assert_eq!(network("2001:db8:abcd:12::1".parse().unwrap()), "2001:db8:abcd::/48");
    }

    #[test]
    fn centroids_and_distances_are_plausible() {
        let (fr, us, jp) = (centroid("FR").unwrap(), centroid("US").unwrap(), centroid("JP").unwrap());
        let paris_to_kansas = distance_km(fr, us);
        assert!((7_000.0..8_500.0).contains(&paris_to_kansas), "{paris_to_kansas}");
        assert!(distance_km(fr, jp) > 9_000.0);
        assert!(distance_km(fr, fr) < 1e-6);
        assert_eq!(centroid("XX"), None);
    }
}
