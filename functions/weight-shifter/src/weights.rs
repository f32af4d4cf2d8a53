//! Shares in percent written as the weights each service takes.
//!
//! Route 53 takes weights 0..=255 and an ALB forward action 0..=999 per target group; both
//! split traffic in proportion to the weights. Writing the share itself (AWS `p`, on
//! premises `100 - p`) fits both ranges and gives the exact percentage, where scaling to
//! 255 or 999 would round. The on-premises weight is 100 at 0 percent and the AWS weight
//! 100 at 100 percent, so the pair is never both 0, which Route 53 would read as "split
//! evenly".

use serde::{Deserialize, Serialize};

/// The largest weight Route 53 accepts on a record.
pub const ROUTE53_MAX_WEIGHT: u32 = 255;
/// The largest weight an ALB forward action accepts on a target group.
pub const ALB_MAX_WEIGHT: u32 = 999;
/// The sum of the two weights the shifter writes.
pub const WEIGHT_TOTAL: u32 = 100;

/// The weights of the on-premises and AWS members of one pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weights {
    /// The on-premises weight.
    pub onprem: u32,
    /// The AWS weight.
    pub aws: u32,
}

impl Weights {
    /// The weights that send `aws_percent` (at most 100) of the traffic to AWS.
    #[must_use]
    pub fn for_share(aws_percent: u8) -> Self {
        let aws = u32::from(aws_percent.min(100));
        Self {
            onprem: WEIGHT_TOTAL - aws,
            aws,
        }
    }

    /// The share of traffic these weights send to AWS, rounded to a whole percent; `None`
    /// when both are 0, which Route 53 reads as an even split.
    #[must_use]
    pub fn aws_share(self) -> Option<u8> {
        let total = u64::from(self.onprem) + u64::from(self.aws);
        if total == 0 {
            return None;
        }
        let share = (u64::from(self.aws) * 100 + total / 2) / total;
        u8::try_from(share).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_share_fits_both_ranges_and_never_writes_two_zeros() {
        for p in 0..=100u8 {
            let w = Weights::for_share(p);
            assert!(w.onprem <= ROUTE53_MAX_WEIGHT && w.aws <= ROUTE53_MAX_WEIGHT);
            assert!(w.onprem <= ALB_MAX_WEIGHT && w.aws <= ALB_MAX_WEIGHT);
            assert!(w.onprem + w.aws > 0, "{p}");
            assert_eq!(w.aws_share(), Some(p), "the share reads back exactly");
        }
    }

    #[test]
    fn the_ends_are_all_on_one_side() {
        assert_eq!(
            Weights::for_share(0),
            Weights {
                onprem: 100,
                aws: 0
            }
        );
        assert_eq!(
            Weights::for_share(100),
            Weights {
                onprem: 0,
                aws: 100
            }
        );
        assert_eq!(
            Weights::for_share(25),
            Weights {
                onprem: 75,
                aws: 25
            }
        );
        assert_eq!(
            Weights::for_share(200),
            Weights {
                onprem: 0,
                aws: 100
            }
        );
    }

    #[test]
    fn weights_written_by_hand_read_as_a_share() {
        assert_eq!(
            Weights {
                onprem: 899,
                aws: 100
            }
            .aws_share(),
            Some(10)
        );
        assert_eq!(Weights { onprem: 0, aws: 0 }.aws_share(), None);
        assert_eq!(Weights { onprem: 0, aws: 7 }.aws_share(), Some(100));
    }
}
