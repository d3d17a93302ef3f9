import { createServer } from 'node:http';
import { startTestPlane } from './helpers/local';
(async () => {
  const t = await startTestPlane();
  const got: any[] = [];
  const srv = createServer((req, res) => { let b=''; req.on('data', c=> b+=c); req.on('end', ()=>{ got.push({headers: req.headers, body: b}); res.end('ok'); }); });
  await new Promise<void>(r => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as any).port;
  let t0 = Date.now();
  const r = await t.post('/environments', { tenant: 'acme', account: 'dev', environment: 'onb-01', region: 'us-east-1', vpcCidr: '10.50.0.0/16', ticketId: 'CHG001', requestedBy: 'jira', callbackUrl: `http://127.0.0.1:${port}/cb`, tags: {Owner:'platform', CostCenter:'1'} });
  console.log(r.status, r.body);
  if (r.status === 202) {
    const d = await t.waitFor(String(r.body.runId));
    console.log('run', d.run.status, d.run.error, Date.now()-t0);
    await new Promise(r=>setTimeout(r,1000));
    console.log('callbacks', JSON.stringify(got).slice(0,800));
    console.log((await t.get('/environments/acme-dev-onb-01')).body);
    console.log((await t.get(`/runs/${r.body.runId}`)).body.run);
  }
  t0 = Date.now();
  t.scenario({ default: { plan: { add: 0, change: 0, destroy: 0 } }, stacks: { 'acme-staging-main': { components: { vpc: { plan: { add: 0, change: 1, destroy: 0 } } } } } });
  const s = await t.post('/drift-sweeps', {});
  console.log(s.status, s.body);
  if (s.status === 202) {
    const d = await t.waitFor(String(s.body.runId), undefined, 300000);
    console.log('sweep', JSON.stringify(d.run).slice(0,1500), Date.now()-t0);
    console.log(JSON.stringify((await t.get('/local/outbox')).body).slice(-1500));
    console.log(JSON.stringify((await t.get('/local/metrics')).body).slice(0,1000));
  }
  srv.close();
  await t.close();
})().catch(e => { console.error(e); process.exit(1); });
