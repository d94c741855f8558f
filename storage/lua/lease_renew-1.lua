-- Extend a lease only if it is still ours (same node and epoch). KEYS[1] lease; ARGV: value, ttlMs
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
