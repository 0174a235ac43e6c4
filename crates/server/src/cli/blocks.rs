//! `ostiary blocks`: the IP addresses blocked after too many wrong codes.

use anyhow::anyhow;
use clap::Subcommand;

use crate::config::Settings;

#[derive(Subcommand)]
pub enum BlocksCommand {
    /// List the IP addresses blocked now.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Lift every block of an IP address.
    Lift { ip: String },
}

pub async fn blocks(command: BlocksCommand, settings: &Settings, now: i64) -> anyhow::Result<()> {
    let store = crate::open_store(settings)?;
    match command {
        BlocksCommand::List { json } => {
            let blocks = store.active_blocks(now).await.map_err(|e| anyhow!("{e}"))?;
            if json {
                let list: Vec<_> = blocks
                    .iter()
                    .map(|b| {
                        serde_json::json!({
                            "ip": b.ip, "scope": b.scope.describe(),
                            "reason": b.reason, "created_at": b.created_at, "expires_at": b.expires_at,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else if blocks.is_empty() {
                println!("No IP address is blocked.");
            } else {
                for b in blocks {
                    let scope = b.scope.describe();
                    let until = domain::clock::rfc3339(b.expires_at);
                    println!("{}  {scope}  until {until}  ({})", b.ip, b.reason);
                }
            }
        }
        BlocksCommand::Lift { ip } => {
            // An IPv6 address is blocked with its /64 (the key limits count under): either names it.
            let given = ip.trim().strip_suffix("/64").unwrap_or(ip.trim());
            let ip: std::net::IpAddr = given.parse().map_err(|_| anyhow!("{ip:?} is not an IP address"))?;
            let key = domain::ClientIp::new(ip).limit_key();
            let n = store.lift_blocks_of_ip(&key, now).await.map_err(|e| anyhow!("{e}"))?;
            if n == 0 {
                println!("{key} was not blocked.");
            } else {
                println!("Lifted {n} block(s) of {key}.");
            }
        }
    }
    Ok(())
}
