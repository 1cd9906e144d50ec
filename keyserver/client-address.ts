// The client key that per-address limits count: an IPv4 address as is, an IPv6 address by its
// network prefix. One host usually holds a whole IPv6 /64 (SLAAC, privacy addresses), so counting
// each address separately would give one client 2^64 budgets.

import { isIPv4, isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * The key per-address limits count `address` under: IPv4 (and IPv4-mapped IPv6) as the dotted
 * address, IPv6 as `<network>/<prefixLength>`, anything else unchanged.
 * @example clientGroup('2001:db8:1:2::a', 64) // '2001:db8:1:2::/64'
 */
export function clientGroup(address: string, ipv6PrefixLength: number): string {
  if (isIPv4(address) || !isIPv6(address)) return address;
  const ip = ipaddr.IPv6.parse(address);
  if (ip.isIPv4MappedAddress()) return ip.toIPv4Address().toString();
  if (ipv6PrefixLength >= 128) return ip.toString().replace(/%.*$/, '');
  // A zone id (fe80::1%eth0) names this server's interface, not the client: drop it.
  return `${ipaddr.IPv6.networkAddressFromCIDR(`${address.replace(/%.*$/, '')}/${ipv6PrefixLength}`).toString()}/${ipv6PrefixLength}`;
}
