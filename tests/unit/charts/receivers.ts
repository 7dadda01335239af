// The alerting input with a receiver of every kind amtool 0.25 knows, shared by the tests of
// the Alertmanager config and of the monitoring chart.
import type { Alerting } from '../../../charts/lib/alertmanager.js';

export function everyReceiver(webhookUrl: string): Pick<Alerting, 'paging' | 'chat'> {
  return {
    paging: {
      pagerduty: { routingKey: { name: 'pagerduty', key: 'routing-key' } },
      webhook: { url: webhookUrl, token: { name: 'hook', key: 'token' } },
    },
    chat: {
      slack: { webhookUrl: { name: 'slack', key: 'url' }, channel: '#alerts' },
      email: {
        to: 'ops@example.com',
        from: 'trench@example.com',
        smarthost: 'smtp.example.com:587',
        username: 'trench',
        password: { name: 'smtp', key: 'password' },
        requireTls: true,
      },
    },
  };
}
