//! `ostiary blocks`: the IP addresses blocked after too many wrong codes.

use anyhow::anyhow;
use clap::Subcommand;

use crate::config::Settings;

#[derive(Subcommand)]
pub enum BlocksCommand {
    /// List the IP addresses blocked now.
    List {
        /// Print the blocks as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lift every block of an IP address.
    Lift {
        /// The IP address (an IPv6 address lifts its /64).
        ip: String,
    },
    /// Block an IP address (an IPv6 address with its /64) for every account, by hand.
    Add {
        /// The IP address to block.
        ip: String,
        /// Why, as the block list and the console show it.
        #[arg(long, default_value = "blocked by an operator")]
        reason: String,
        /// For how long, in hours (1 to 8760).
        #[arg(long, default_value_t = 24)]
        hours: i64,
    },
}

pub async fn blocks(command: BlocksCommand, settings: &Settings, now: i64) -> anyhow::Result<()> {
    let store = crate::open_store(settings).await?;
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
        BlocksCommand::Add { ip, reason, hours } => {
            use passwordless_connection::storage::{BlockScope, BlockStore, NewBlock};
            if !(1..=8760).contains(&hours) {
                return Err(anyhow!("--hours: {hours} is not from 1 to 8760"));
            }
            let reason = reason.trim().chars().filter(|c| !c.is_control()).take(200).collect::<String>();
            let ip: std::net::IpAddr = ip.trim().parse().map_err(|_| anyhow!("{ip:?} is not an IP address"))?;
            let key = domain::ClientIp::new(ip).limit_key();
            let block = NewBlock {
                ip: key.clone(),
                scope: BlockScope::AllAccounts,
                reason,
                unblock_hash: None,
                created_at: now,
                expires_at: now + hours * 3600,
            };
            match BlockStore::insert_block(&store, block).await.map_err(|e| anyhow!("{e}"))? {
                Some(_) => println!("Blocked {key} for every account for {hours} h."),
                None => println!("{key} is already blocked for every account."),
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
