//! How many votes one client may cast: [`VoteLimit`], 30 a minute per client address
//! (the address `http::client_addr` finds, through `--trusted-proxy`).
//!
//! * In memory (one instance, or several on one folder): a counter per address for the
//!   minute that started with its first vote.
//! * In Redis (`--redis`): one counter per address and Unix minute,
//!   `votes:{address}:{minute}`, `INCR` and `EXPIRE` in one `MULTI`, so a client behind a
//!   load balancer has 30 a minute across every instance, not 30 on each. While Redis is
//!   away the memory counter stands in (the vote itself is refused then anyway).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::redis_link::RedisLink;

/// Votes one client address may cast per minute.
pub const VOTES_PER_MINUTE: u32 = 30;

/// Addresses the memory counter keeps before it forgets those whose minute is over.
const REMEMBERED: usize = 10_000;

pub struct VoteLimit {
    memory: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    redis: Option<Arc<RedisLink>>,
}

impl VoteLimit {
    /// Counted in this process.
    pub fn in_memory() -> VoteLimit {
        VoteLimit {
            memory: Mutex::new(HashMap::new()),
            redis: None,
        }
    }

    /// Counted in Redis, across every instance joined through it.
    pub fn in_redis(link: Arc<RedisLink>) -> VoteLimit {
        VoteLimit {
            redis: Some(link),
            ..VoteLimit::in_memory()
        }
    }

    /// Counts a vote of `client`; false past the limit. Blocks on Redis with `--redis`.
    pub fn allow(&self, client: IpAddr) -> bool {
        // While the link's last call found Redis away, the memory counts at once (the
        // vote's own call to Redis finds out whether it is back).
        if let Some(link) = self.redis.as_ref().filter(|link| link.answering()) {
            let minute = crate::catalog::video::now_ms() / 60_000;
            let key = link.key(&["votes", &client.to_string(), &minute.to_string()]);
            let mut con = link.connection();
            let counted = link.block_on(async move {
                redis::pipe()
                    .atomic()
                    .incr(&key, 1u32)
                    .expire(&key, 120)
                    .ignore()
                    .query_async::<(u32,)>(&mut con)
                    .await
            });
            if let Ok((n,)) = counted {
                return n <= VOTES_PER_MINUTE;
            }
        }
        self.allow_here(client)
    }

    fn allow_here(&self, client: IpAddr) -> bool {
        let mut map = self.memory.lock();
        let now = Instant::now();
        let minute = Duration::from_secs(60);
        if map.len() > REMEMBERED {
            map.retain(|_, (start, _)| now.duration_since(*start) < minute);
        }
        let entry = map.entry(client).or_insert((now, 0));
        if now.duration_since(entry.0) >= minute {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= VOTES_PER_MINUTE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis_link::test_server::TestRedis;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn thirty_a_minute_per_address_in_memory() {
        let limit = VoteLimit::in_memory();
        assert!((0..30).all(|_| limit.allow(ip("203.0.113.1"))));
        assert!(!limit.allow(ip("203.0.113.1")));
        assert!(limit.allow(ip("203.0.113.2")), "another client");
    }

    #[test]
    fn two_instances_share_one_limit_in_redis() {
        let Some(server) = TestRedis::start() else { return };
        let link = || RedisLink::connect(&server.url(), Some("t")).unwrap();
        let (a, b) = (VoteLimit::in_redis(link()), VoteLimit::in_redis(link()));
        let client = ip("2001:db8::7");
        let allowed = (0..40)
            .filter(|i| {
                if i % 2 == 0 {
                    a.allow(client)
                } else {
                    b.allow(client)
                }
            })
            .count();
        // A minute may turn during the loop: then the count starts again once.
        assert!((30..=40).contains(&allowed), "{allowed}");
        if allowed == 30 {
            assert!(!a.allow(client) && !b.allow(client));
        }
        assert!(a.allow(ip("2001:db8::8")), "another client");
    }

    #[test]
    fn without_redis_the_memory_counts() {
        let limit = VoteLimit::in_redis(RedisLink::connect("redis://127.0.0.1:1/0", None).unwrap());
        assert!((0..30).all(|_| limit.allow(ip("203.0.113.1"))));
        assert!(!limit.allow(ip("203.0.113.1")));
    }
}
